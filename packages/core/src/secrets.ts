/**
 * Masking: the runner replaces every registered value with *** in the log. A value the log could
 * show in another form must be registered in that form too.
 */
import * as core from '@actions/core';

/** Masks a secret, each of its lines (the runner matches line by line), and its base64 forms. */
export function maskSecret(value: string | undefined): void {
  if (!value) return;
  const forms = new Set<string>([value, value.trim()]);
  for (const line of value.split(/\r?\n/)) forms.add(line.trim());
  // A token that ends up in a docker config.json is stored as base64("user:token"); the user is not
  // known here, but the token's own base64 is what a decoded key or an encoded secret shows.
  forms.add(Buffer.from(value, 'utf8').toString('base64'));
  for (const form of forms) {
    // Very short fragments (a lone "-----" line of a PEM key) would mask ordinary words everywhere.
    if (form.length >= 4) core.setSecret(form);
  }
}

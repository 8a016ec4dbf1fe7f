import type { z } from 'zod';

const MAX_ISSUES = 10;
const MAX_SEGMENT = 64;

/**
 * Describes zod issues by field path and expectation only. Input values never appear: a body carries SQL
 * text and parameter values, and this message is both returned to the caller and counted as safe to log.
 */
export function validationMessage(part: string, error: z.ZodError): string {
  const lines: string[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) lines.push(`${where([...issue.path, key])}: unknown field`);
    } else {
      lines.push(`${where(issue.path)}: ${expectation(issue)}`);
    }
  }
  const shown = lines.slice(0, MAX_ISSUES);
  if (lines.length > shown.length) shown.push(`and ${lines.length - shown.length} more`);
  return `invalid ${part}: ${shown.join('; ')}`;
}

function where(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path.map((p) => String(p).slice(0, MAX_SEGMENT)).join('.');
}

function expectation(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${issue.expected}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_big':
      return `too big (at most ${String(issue.maximum)})`;
    case 'too_small':
      return `too small (at least ${String(issue.minimum)})`;
    // Our formats carry messages written for integrators (e.g. "must be a lowercase UUID"); zod's own
    // format messages name the pattern, never the input.
    case 'invalid_format':
      return issue.message;
    // Custom issues are our refinements, whose messages are constant text (or name a schema's vocabulary).
    case 'custom':
      return issue.message;
    case 'not_multiple_of':
      return `not a multiple of ${String(issue.divisor)}`;
    default:
      return 'invalid';
  }
}

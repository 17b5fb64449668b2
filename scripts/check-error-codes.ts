/**
 * Fails when shipped code names an error code outside the one scheme, `domain.kebab-case`
 * (ERROR_CODE_PATTERN in @flotilla/errors). Codes are a contract: they go into events, metric
 * labels, alert rules and API answers, so a `MANIFEST_UNKNOWN` beside a `git.unreachable` is a
 * second vocabulary every consumer has to learn. A third party's own code (what a registry
 * answered) is carried beside ours in `details`, never as our code.
 *
 * It reads the places a code is written down, in every package's `src/` less unit tests:
 * - the first argument of `new X(...)` for every class that extends FlotillaError (found here, so
 *   a new error class is covered without editing this file), and of retryable/waiting/stalled;
 * - string members of an error-code union (`type GitErrorCode = 'git.a' | …`, `type RenderCode = …`);
 * - string members of a code list (`const POLICY_ERROR_CODES = [...]`) and keys of a code table
 *   (`const DISPOSITIONS = { 'oci.denied': 'stall', … }`);
 * - a poll loop's `unknownCode`;
 * - OperationError's reason, which becomes `planner.<reason>`.
 * A template literal counts by its fixed text (`pipeline.${code}` must start with a domain).
 *
 *   node scripts/check-error-codes.ts
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { isErrorCode } from '../libs/errors/src/flotilla-error.ts';

const root = join(import.meta.dirname, '..');
const roots = ['libs', 'services'].flatMap((d) =>
  readdirSync(join(root, d), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => join(root, d, e.name, 'src')),
);
roots.push(join(root, 'cli', 'src'));

function sources(dir: string): string[] {
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'fixtures' ? [] : sources(path);
    return /\.tsx?$/.test(e.name) && !/\.test\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

const files = roots.flatMap(sources).map((path) => ({ path, text: readFileSync(path, 'utf8') }));

// Every class that extends FlotillaError, directly or through another one.
const errorClasses = new Set(['FlotillaError']);
const extendsRe = /class\s+(\w+)\s+extends\s+(\w+)/g;
for (let grew = true; grew; ) {
  grew = false;
  for (const { text } of files)
    for (const [, name, base] of text.matchAll(extendsRe))
      if (errorClasses.has(base!) && !errorClasses.has(name!)) {
        errorClasses.add(name!);
        grew = true;
      }
}

const STRING = String.raw`(?:'([^'\\\n]*)'|"([^"\\\n]*)"|\x60([^\x60\\]*)\x60)`;
const literalAt = (m: RegExpMatchArray, from: number) => m[from] ?? m[from + 1] ?? m[from + 2];
const stringsIn = (text: string) =>
  [...text.matchAll(new RegExp(STRING, 'g'))].map((m) => literalAt(m, 1)!).filter((s) => s !== undefined);

const lineOf = (text: string, index: number) => text.slice(0, index).split('\n').length;

/** A template literal is checked by its fixed text: `pipeline.${x}` needs a domain before the `${`. */
function inScheme(code: string): boolean {
  const hole = code.indexOf('${');
  if (hole < 0) return isErrorCode(code);
  const fixed = code.slice(0, hole);
  return /^[a-z][a-z0-9]*(-[a-z0-9]+)*(\.[a-z0-9]+(-[a-z0-9]+)*)*\.([a-z0-9]+(-[a-z0-9]+)*-?)?$/.test(fixed);
}

const problems: string[] = [];
const report = (path: string, text: string, index: number, code: string, where: string) => {
  if (!inScheme(code))
    problems.push(`${relative(root, path)}:${lineOf(text, index)}: ${JSON.stringify(code)} (${where})`);
};

const classes = [...errorClasses].join('|');
const constructed = new RegExp(String.raw`\bnew\s+(${classes})\s*\(\s*${STRING}`, 'g');
const helpers = new RegExp(String.raw`(?<![.\w])(retryable|waiting|stalled)\s*\(\s*${STRING}`, 'g');
const unknownCode = new RegExp(String.raw`\bunknownCode\s*:\s*${STRING}`, 'g');
const operation = new RegExp(String.raw`\bnew\s+OperationError\s*\(\s*${STRING}\s*,\s*${STRING}`, 'g');
// Unions of error codes: `…ErrorCode`, and RenderFailure's `RenderCode`. Other `…Code` unions are
// reasons, not errors (a promotion's `WaitCode`), or sub-codes a caller prefixes with a domain
// (a pipeline file's `PipelineIssueCode` becomes RenderFailed's `pipeline.<issue>`).
const union = /\btype\s+(\w*ErrorCode|RenderCode)\s*=([^;]*);/g;
const list = /\bconst\s+(\w*_ERROR_CODES)\s*=\s*\[([^\]]*)\]/g;
const table = /\bconst\s+(DISPOSITIONS)\s*(?::[^=]*)?=\s*\{([^}]*)\}/g;

for (const { path, text } of files) {
  for (const m of text.matchAll(constructed))
    if (m[1] !== 'OperationError') report(path, text, m.index!, literalAt(m, 2)!, `new ${m[1]}`);
  for (const m of text.matchAll(helpers)) report(path, text, m.index!, literalAt(m, 2)!, `${m[1]}()`);
  for (const m of text.matchAll(unknownCode)) report(path, text, m.index!, literalAt(m, 1)!, 'unknownCode');
  for (const m of text.matchAll(operation))
    report(path, text, m.index!, `planner.${literalAt(m, 4)}`, 'OperationError reason');
  for (const m of text.matchAll(union))
    for (const code of stringsIn(m[2]!)) report(path, text, m.index!, code, `type ${m[1]}`);
  for (const m of text.matchAll(list))
    for (const code of stringsIn(m[2]!)) report(path, text, m.index!, code, m[1]!);
  for (const m of text.matchAll(table))
    for (const [, key] of m[2]!.matchAll(/^\s*'([^']+)'\s*:/gm)) report(path, text, m.index!, key!, m[1]!);
}

if (problems.length > 0) {
  console.error(
    `error codes outside the domain.kebab-case scheme (see ERROR_CODE_PATTERN in libs/errors):\n  ${problems.join('\n  ')}`,
  );
  process.exit(1);
}
console.log(`error codes in scheme (${files.length} files, ${errorClasses.size} error classes)`);

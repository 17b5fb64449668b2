// The kube-apiserver's validation messages quote the value it refused (`data[k]: Invalid value:
// "s3cr3t": …`). Those messages travel in events (ApplyFailed) and logs, so a refused Secret
// would publish its own content. This removes the quoted values, keeping the field path and
// the reason, which are what a person needs to fix the manifest.
import { isSecretObject, isSensitiveField, isUnnamedEnvValue, nameIndexedPath } from './sensitive-fields.ts';

export const REDACTED_VALUE = '[REDACTED]';

/**
 * The field error types of k8s.io/apimachinery/pkg/util/validation/field whose text can carry
 * the bad value (`<path>: <Type>: <value>: <detail>`). Required, Forbidden and Internal never
 * print one; `Too long`/`Too many` did in older apiservers, so they are covered too.
 */
const VALUE_TYPES = [
  'Invalid value',
  'Unsupported value',
  'Duplicate value',
  'Not found',
  'Too long',
  'Too many',
  'Too short',
];

/**
 * One field error: an optional path (dots, and bracketed keys which may hold spaces or quotes),
 * the type, and the value as the apiserver prints it: a Go-quoted string (`%q`), a Go literal
 * (`%#v`: `[]byte{0x73, …}`, `map[string]string{…}`), or a bare number/bool/null.
 */
const FIELD_ERROR = new RegExp(
  // The lookbehind starts a path only at its first character: linear on long runs of word chars.
  String.raw`(?<![\w$.\-/\]])((?:[\w$.\-/]|\[[^\]]*\])+)?(: |^|\s)(${VALUE_TYPES.join('|')}): ` +
    String.raw`("(?:[^"\\]|\\.)*"|[\w.*\[\]]+\{[^}]*\}|-?[\w.+]+)`,
  'g',
);

/** `data[password]` → `.data[password]`, the form {@link isSensitiveField} reads. */
const asPath = (field: string) => (field.startsWith('.') ? field : `.${field}`);

/**
 * `message` with every value quoted in an apiserver field error replaced by `[REDACTED]` when
 * the field is sensitive for `objectText` (as events name objects: `Secret ns/name`): any field of
 * a Secret except its type/immutable/labels, and credential-named fields of any object. With no
 * object (a message not tied to one), every value is treated as a Secret's, as the safe default.
 * A value whose path cannot be read is redacted for a Secret and kept otherwise.
 *
 * `object` (the manifest the message is about, when the caller has it) names list items the
 * apiserver addresses by index: `containers[0].env[3].value` is sensitive when `env[3]` is
 * `DB_PASSWORD`. An env value whose name is not known that way is redacted, as the safe default.
 */
export function scrubApiMessage(message: string, objectText?: string, object?: unknown): string {
  const secretLike = objectText === undefined || isSecretObject(objectText);
  const subject = objectText === undefined ? 'Secret ?' : objectText;
  const sensitiveAt = (field: string): boolean => {
    const named = object === undefined ? field : nameIndexedPath(object, field.replace(/^\./, ''));
    return isSensitiveField(subject, asPath(named)) || isUnnamedEnvValue(named);
  };
  return message.replace(
    FIELD_ERROR,
    (whole, field: string | undefined, sep: string, type: string, value: string) => {
      const sensitive = field ? sensitiveAt(field) : secretLike;
      if (!sensitive) return whole;
      // A refused map key is both the value and the last step of the path (`data[k]: Invalid
      // value: "k"`), so it goes from the path too; the rest of the path stays.
      const key = unquote(value);
      const path = field && key ? field.split(`[${key}]`).join(`[${REDACTED_VALUE}]`) : (field ?? '');
      return `${path}${sep}${type}: ${REDACTED_VALUE}`;
    },
  );
}

/** The text of a Go `%q` string; undefined for other values (numbers, Go literals). */
function unquote(value: string): string | undefined {
  if (!value.startsWith('"')) return undefined;
  try {
    return JSON.parse(value) as string;
  } catch {
    // `%q` escapes JSON does not read (`\x00`, `\a`): the raw inner text is close enough.
    return value.slice(1, -1);
  }
}

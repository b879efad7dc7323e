// Structured logs. Secrets never reach a log line: known secret-bearing fields are redacted by
// pino, and free text (stderr of remote commands, error messages) goes through redactText.
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** Field paths that may carry secrets anywhere in a log object. */
export const REDACT_PATHS: readonly string[] = [
  'privateKey',
  'passphrase',
  'password',
  'token',
  'authorization',
  '*.privateKey',
  '*.passphrase',
  '*.password',
  '*.token',
  '*.authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
  'config.ssh.privateKey',
];

export function createLogger(options: { level?: string; name?: string } = {}, destination?: DestinationStream): Logger {
  const opts: LoggerOptions = {
    name: options.name ?? 'cri-migrator',
    level: options.level ?? 'info',
    redact: { paths: [...REDACT_PATHS], censor: '[REDACTED]' },
    formatters: {
      log: (object) => redactObjectText(object),
    },
    serializers: {
      err: (err: unknown) => redactObjectText(pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>),
    },
  };
  return destination ? pino(opts, destination) : pino(opts);
}

/** Child logger carrying the node name on every line. */
export function nodeLogger(root: Logger, nodeName: string): Logger {
  return root.child({ node: nodeName });
}

const TEXT_SECRET_PATTERNS: readonly [RegExp, string][] = [
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g, '[REDACTED PRIVATE KEY]'],
  [/\b(authorization:\s*bearer\s+)[^\s"']+/gi, '$1[REDACTED]'],
  [/\b(bearer\s+)[A-Za-z0-9._~+/-]{16,}=*/gi, '$1[REDACTED]'],
  [/\b((?:password|passwd|token|secret|passphrase)\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;]+)/gi, '$1[REDACTED]'],
  // userinfo in URLs, e.g. http://user:pass@proxy:3128
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@]+:)[^\s/@]+@/gi, '$1[REDACTED]@'],
];

/** Remove secrets from free text such as remote stderr or an error message. */
export function redactText(text: string): string {
  let out = text;
  for (const [pattern, replacement] of TEXT_SECRET_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

function redactObjectText<T extends Record<string, unknown>>(object: T): T {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(object)) {
    out[key] = typeof value === 'string' ? redactText(value) : value;
  }
  return out as T;
}

/**
 * Credentials in URLs shown to people (plan output): http://user:***@host, and http://***@host for
 * a user part alone (often a token). The files written keep them.
 */
export function maskUrlCredentials(text: string): string {
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)([^\s/?#@]+)@/gi, (_whole, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    return colon >= 0 ? `${scheme}${userinfo.slice(0, colon)}:***@` : `${scheme}***@`;
  });
}

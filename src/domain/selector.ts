// Equality-based label selectors (key=value, key==value, key!=value, key, !key), as the API
// server evaluates them. Used to re-check a freshly read Node and to filter pods in drain.

export type Requirement =
  | { key: string; op: 'eq' | 'neq'; value: string }
  | { key: string; op: 'exists' | 'notExists' };

export function parseSelector(text: string): Requirement[] {
  const requirements: Requirement[] = [];
  for (const part of text.split(',').map((p) => p.trim())) {
    if (part === '') continue;
    const match = /^(!?)\s*([^=!\s]+)\s*(?:(==|=|!=)\s*(\S*))?$/.exec(part);
    if (!match) throw new Error(`invalid label selector term ${JSON.stringify(part)} in ${JSON.stringify(text)}`);
    const [, bang, key, op, value] = match;
    if (bang && op) throw new Error(`invalid label selector term ${JSON.stringify(part)}: "!" only goes with a bare key`);
    if (!op) requirements.push({ key: key!, op: bang ? 'notExists' : 'exists' });
    else requirements.push({ key: key!, op: op === '!=' ? 'neq' : 'eq', value: value ?? '' });
  }
  return requirements;
}

export function matchesSelector(labels: Readonly<Record<string, string>>, selector: string | readonly Requirement[]): boolean {
  const requirements = typeof selector === 'string' ? parseSelector(selector) : selector;
  return requirements.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    switch (r.op) {
      case 'exists':
        return has;
      case 'notExists':
        return !has;
      case 'eq':
        return has && labels[r.key] === r.value;
      case 'neq':
        return !has || labels[r.key] !== r.value;
    }
  });
}

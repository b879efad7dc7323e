export interface MinorVersion {
  major: number;
  minor: number;
  patch: number;
}

/** Parse "v1.23.17", "Kubernetes v1.27.3", "1.6.20-1" or "containerd containerd.io 1.6.20 abc" into numbers. */
export function parseVersion(text: string): MinorVersion {
  const match = /v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (!match) throw new Error(`cannot find a version number in ${JSON.stringify(text)}`);
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3] ?? 0) };
}

/** Compare a version with major.minor: negative when older. */
export function compareMinor(version: MinorVersion, major: number, minor: number): number {
  return version.major !== major ? version.major - major : version.minor - minor;
}

export function atLeast(version: MinorVersion, major: number, minor: number): boolean {
  return compareMinor(version, major, minor) >= 0;
}

export function formatVersion(version: MinorVersion): string {
  return `${version.major}.${version.minor}.${version.patch}`;
}

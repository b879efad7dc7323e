// Errors of the Kubernetes side that main.ts tells apart without loading the client.

/** The kubeconfig or --context cannot be used: a usage problem (exit 2), found before any request. */
export class KubeconfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KubeconfigError';
  }
}


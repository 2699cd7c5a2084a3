// Staging install.sh as a release asset: its one marker line gets the repository that
// package.json names, so a piped `curl … | sh` knows where releases live.

export const REPO_MARKER = 'DWF_REPO_DEFAULT="__DWF_REPOSITORY__"';

/** Fill in the marker; throws when it is missing or appears more than once. */
export function stageInstaller(text: string, repository: string): string {
  if (text.split(REPO_MARKER).length !== 2) throw new Error(`install.sh must contain the line ${REPO_MARKER} exactly once`);
  if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(repository)) throw new Error(`repository '${repository}' is not owner/name`);
  return text.replace(REPO_MARKER, `DWF_REPO_DEFAULT="${repository}"`);
}

// Network edge of `dwf upgrade`: fetch SHA256SUMS and an asset from the release layout
// (see urls.ts) with ofetch, turning HTTP failures into messages a user can act on.
import { ofetch, FetchError } from "ofetch";
import { UserError } from "../lib/errors.ts";

interface Fetched {
  data: Uint8Array;
  /** The URL after redirects: a "latest" URL lands on the tagged one. */
  url: string;
}

export async function fetchBytes(url: string, what: string, hint: string): Promise<Fetched> {
  try {
    const res = await ofetch.raw(url, { responseType: "arrayBuffer", retry: 2, retryDelay: 500, timeout: 300_000 });
    return { data: new Uint8Array(res._data ?? new ArrayBuffer(0)), url: res.url || url };
  } catch (e) {
    if (e instanceof FetchError && e.statusCode === 404) throw new UserError(`${what} not found: ${url} answered 404.`, hint);
    if (e instanceof FetchError && e.statusCode) throw new UserError(`could not download ${what}: ${url} answered ${e.statusCode}.`, hint);
    const cause = e instanceof Error ? ((e as Error & { cause?: Error }).cause?.message ?? e.message) : String(e);
    throw new UserError(
      `could not download ${what} from ${url}: ${cause}`,
      "Check the network connection, or set DWF_DOWNLOAD_BASE to a reachable mirror.",
    );
  }
}

// A fix for undici 8.13's HTTP/2 client, process-wide: upstream streams deliver their trailers
// after their data. Installed by the first HTTP/2 connection pool (backend.ts).

import { subscribe } from 'node:diagnostics_channel';
import type { ClientHttp2Stream } from 'node:http2';

const HELD_TRAILERS = Symbol('sluice.heldTrailers');

type UpstreamStream = ClientHttp2Stream & { [HELD_TRAILERS]?: unknown[] };

/**
 * undici 8.13 stops listening for 'data' when an upstream stream's trailers arrive. A response
 * paused for backpressure (a slow client) still holds DATA that arrived before its trailers, and
 * that tail was then dropped on resume: a gRPC stream lost its last messages and ended OK. Held
 * back until the stream's 'end', the trailers come after every byte was read.
 */
function emitTrailersAfterData(this: UpstreamStream, event: string | symbol): boolean {
  if (event === 'trailers' && this.readableLength > 0) {
    this[HELD_TRAILERS] = Array.prototype.slice.call(arguments, 1);
    return true;
  }
  if (event === 'end' && this[HELD_TRAILERS] !== undefined) {
    const held = this[HELD_TRAILERS];
    this[HELD_TRAILERS] = undefined;
    streamEmit!.call(this, 'trailers', ...held);
  }
  // Every event of every upstream stream passes here: `arguments` as it is, no rest array per emit.
  return Reflect.apply(streamEmit!, this, arguments) as boolean;
}

let trailersHeld = false;
/** ClientHttp2Stream's own emit, taken from the first stream (the class is not exported). */
let streamEmit: ((this: UpstreamStream, event: string | symbol, ...args: unknown[]) => boolean) | undefined;

/** Every HTTP/2 client stream of this process (undici's towards backends) delivers its trailers after its data. */
export function holdUpstreamTrailersUntilDataRead(): void {
  if (trailersHeld) return;
  trailersHeld = true;
  subscribe('http2.client.stream.created', (message) => {
    const { stream } = message as { stream: UpstreamStream };
    streamEmit ??= stream.emit;
    stream.emit = emitTrailersAfterData;
  });
}

// Types for the undici modules sluice imports one by one instead of the package index (which
// loads fetch, WebSocket, cache and mock code too: ~12 MB of RSS). Same classes, same types.

declare module 'undici/lib/dispatcher/pool.js' {
  import { Pool } from 'undici';
  export = Pool;
}

declare module 'undici/lib/dispatcher/agent.js' {
  import { Agent } from 'undici';
  export = Agent;
}

declare module 'undici/lib/api/api-request.js' {
  import type { Dispatcher } from 'undici';
  /** undici's request(), called with the dispatcher as `this` (the index binds it the same way). */
  function request(this: Dispatcher, options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData>;
  export = request;
}

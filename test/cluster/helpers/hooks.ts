// Root hooks for the cluster suite: whatever a failed test left behind is removed at the end.

import { BackendNet } from './backend-net.ts';

export const mochaHooks = {
  async afterAll(): Promise<void> {
    await BackendNet.stopAll();
  },
};

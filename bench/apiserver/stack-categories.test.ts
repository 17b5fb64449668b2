import { describe, expect, it } from 'vitest';
import { breakdown } from './stack-categories.ts';

// Three stacks as `perf script -F ip,sym` prints them (leaf first), cut from a real profile of
// the test cluster taking a bulk server-side apply.
const script = `
	           2a8f10 go.yaml.in/yaml/v2.(*parser).parse
	           2a9d31 sigs.k8s.io/yaml.yamlToJSONTarget
	          1d4c2e0 k8s.io/apiserver/pkg/endpoints/handlers.(*applyPatcher).applyPatchToCurrentObject
	          1d41a77 k8s.io/apiserver/pkg/storage/etcd3.(*store).GuaranteedUpdate
	          1d3c001 k8s.io/apiserver/pkg/endpoints/handlers/finisher.finishRequest.func1
	           95941 runtime.goexit.abi0

	           24fb0 runtime.mallocgcSmallScanNoHeader
	         1b3b416 go.etcd.io/etcd/client/v3.(*watcher).newWatcherGRPCStream
	         1c83e29 k8s.io/apiserver/pkg/storage/etcd3.(*watchChan).startWatching
	           95941 runtime.goexit.abi0

	           36e10 runtime.scanobject
	           37a01 runtime.gcDrain
	           38c38 runtime.gcBgMarkWorker
	           95941 runtime.goexit.abi0
`;

describe('perf stack categories', () => {
  it('puts each stack in the first category one of its frames matches: the request work before the storage it runs in', () => {
    const b = breakdown(script);
    expect(b.total).toBe(3);
    expect(b.counts).toEqual({
      'apply patch: YAML decode': 1,
      'storage: etcd client (encode, txn)': 1,
      'Go GC (background workers)': 1,
    });
  });
});

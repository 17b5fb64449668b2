import { str } from './object-fields.ts';
import { current, type HealthRule, inProgress } from './types.ts';

/** kstatus only waits for a LoadBalancer Service to get its cluster IP; external IPs can take long. */
export const serviceHealth: HealthRule = (obj) => {
  if (str(obj, 'spec', 'type') === 'LoadBalancer' && !str(obj, 'spec', 'clusterIP')) {
    return inProgress('ClusterIP not set');
  }
  return current('Service is ready');
};

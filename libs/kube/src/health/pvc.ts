import { str } from './object-fields.ts';
import { current, type HealthRule, inProgress } from './types.ts';

export const pvcHealth: HealthRule = (obj) => {
  const phase = str(obj, 'status', 'phase');
  if (phase !== 'Bound') return inProgress(`PVC is not Bound. Phase: ${phase ?? 'unknown'}`);
  return current('PVC is Bound');
};

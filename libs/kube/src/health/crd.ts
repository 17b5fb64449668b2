import { condition, describeCondition } from './object-fields.ts';
import { current, failed, type HealthRule, inProgress } from './types.ts';

export const crdHealth: HealthRule = (obj) => {
  const names = condition(obj, 'NamesAccepted');
  if (names?.status === 'False')
    return failed(`CRD names have not been accepted: ${describeCondition(names)}`);
  const established = condition(obj, 'Established');
  if (established?.status === 'True') return current('CRD is established');
  if (established?.status === 'False' && established.reason !== 'Installing') {
    return failed(`CRD is not established: ${describeCondition(established)}`);
  }
  return inProgress('Install in progress');
};

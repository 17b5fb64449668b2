import { FlotillaError } from '@flotilla/errors';
import type { Inventory, InventoryEntry } from '@flotilla/kube';
import { type PlanData, type TrustedKey, verifyPlanSignature } from '@flotilla/trust';
import { ApplyError } from './apply-error.ts';

/**
 * Step 0a: the plan is for this cluster and signed by a key we trust. Checked before the bundle is
 * even fetched: a forged plan must not make us read or write anything.
 */
export function verifyPlan(
  plan: PlanData,
  opts: { cluster: string; trustedKeys: readonly TrustedKey[]; requireSigned: boolean },
): void {
  if (plan.cluster !== opts.cluster)
    throw new ApplyError(
      'plan.wrong-cluster',
      `plan ${plan.planId} is for cluster "${plan.cluster}", this applier serves "${opts.cluster}"`,
      [],
      true,
    );
  if (!opts.requireSigned && !plan.signature) return;
  try {
    verifyPlanSignature(plan, opts.trustedKeys);
  } catch (err) {
    if (err instanceof FlotillaError) throw new ApplyError(err.code, err.message, [], true, 'stall', err);
    throw err;
  }
}

export type ReplayVerdict = 'new' | 'redelivery';

/**
 * Step 0b: refuse plans older than the last one applied (kept in the in-cluster inventory, so a
 * restarted applier remembers). Plans order by (epoch, sequence): the epoch is the planner's
 * leader fencing token, so a new leader's plans (or a planner's after its state was lost and its
 * sequences restarted) are new, and a paused old leader's are replays. The same plan again (same
 * epoch, sequence, id and digest) is a redelivery and is re-run idempotently; anything else at
 * or below the last (epoch, sequence) is a replay.
 */
export function checkReplay(plan: PlanData, inventory: Inventory | undefined): ReplayVerdict {
  if (!inventory || (inventory.sequence === 0 && inventory.epoch === undefined)) return 'new';
  const planEpoch = plan.epoch ?? 0;
  const seenEpoch = inventory.epoch ?? 0;
  if (planEpoch > seenEpoch) return 'new';
  if (planEpoch === seenEpoch && plan.sequence > inventory.sequence) return 'new';
  if (
    planEpoch === seenEpoch &&
    plan.sequence === inventory.sequence &&
    plan.planId === inventory.planId &&
    plan.bundle.digest === inventory.digest
  )
    return 'redelivery';
  throw new ApplyError(
    'plan.replayed',
    `plan ${plan.planId} has epoch ${planEpoch} sequence ${plan.sequence}, but plan ${inventory.planId ?? '?'} with epoch ${seenEpoch} sequence ${inventory.sequence} (revision ${inventory.revision ?? '?'}) is already applied; refusing an older or replayed plan`,
    [],
    true,
  );
}

/**
 * Whether a no-op plan must be written into the inventory. Always for a plan finishing an apply
 * cut short (`applying`), one of a new epoch (the fencing token: the inventory must outrank an
 * old planner's plans from then on), one whose entries differ (a live marker moved), and one that
 * does not directly follow the last plan answered: the recorded one, or `unrecorded`, the last of
 * the plans this applier answered since as no-ops without recording them (each sequence from the
 * recorded one up to it, in this tenure). Not for the next plan of the same epoch whose objects
 * equal the inventory's: every plan between it and the recorded one applied those very objects,
 * so recording it changes nothing a replay could exploit (anything older is refused as before, a
 * replay of any of them applies the recorded objects again, and one of this plan is again a
 * no-op). A plan further ahead is recorded: one in between that this applier did not answer so (a
 * failure being retried, say) must then count as a replay. A steady resync of unchanged pipelines
 * thus writes no inventory at all. The inventory keeps naming the plan that last changed
 * something (and its bundle: the same objects, for drift after a restart); ApplySucceeded
 * reports this one. Pure.
 */
export function mustRecordNoop(
  plan: Pick<PlanData, 'epoch' | 'sequence'>,
  inv: Inventory | undefined,
  verdict: ReplayVerdict,
  entries: Record<string, InventoryEntry>,
  unrecorded?: number,
): boolean {
  if (!inv || inv.applying) return true;
  if (verdict !== 'new') return false;
  const answered = Math.max(inv.sequence, unrecorded ?? 0);
  if ((plan.epoch ?? 0) !== (inv.epoch ?? 0) || plan.sequence !== answered + 1) return true;
  if (!inv.digest || !inv.planId || !inv.revision) return true;
  return !sameEntries(inv.entries, entries);
}

function sameEntries(a: Record<string, InventoryEntry>, b: Record<string, InventoryEntry>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const k of keys) {
    const x = a[k];
    const y = b[k];
    if (!x || !y || x.v !== y.v || x.h !== y.h || (x.m ?? '') !== (y.m ?? '')) return false;
  }
  return true;
}

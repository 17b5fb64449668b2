export {
  generateSigningKey,
  loadTrustedKeys,
  type PlanData,
  type SigningKey,
  signedPayload,
  signingKeyFromPem,
  signPlan,
  type TrustedKey,
  trustedKeyFromPem,
  type UnsignedPlan,
  verifyPlanSignature,
} from './plan-signing.ts';

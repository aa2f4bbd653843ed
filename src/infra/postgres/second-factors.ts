/**
 * The SecondFactors port. The service stores no second factors yet, so a reset removes nothing and
 * ResetUserMfa answers MFA_NOT_ENROLLED; the MFA work (issue 15) replaces this adapter with one
 * that deletes the user's factors and recovery codes.
 */
import type { SecondFactors } from "../../domain/admin/ports.js";

export function createSecondFactors(): SecondFactors {
  return {
    async reset() {
      return 0;
    },
  };
}

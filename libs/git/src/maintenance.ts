/**
 * `git commit`, `fetch` and `rebase` each start `git maintenance run --auto` after their work:
 * one more process, waited for, on every commit and fetch. Our commands turn it off
 * ({@link NO_AUTO_MAINTENANCE}) and run it themselves once every {@link MAINTENANCE_EVERY}
 * commits or fetches: the same housekeeping (git's own thresholds decide whether to pack) at a
 * fraction of the processes.
 */
export const MAINTENANCE_EVERY = 50;
export const NO_AUTO_MAINTENANCE = 'maintenance.auto=false';
export const MAINTENANCE_ARGS = ['maintenance', 'run', '--auto', '--quiet'];

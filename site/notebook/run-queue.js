// Notebook jobs (runs, generations) one after another: Python is single-threaded, and a job must see the
// cells as the one before it left them. The root's data-busy covers queued jobs too; data-completed-runs
// counts finished ones (tests and bench/ wait on it).
//
//   const queue = new RunQueue(root, () => afterEachJob());
//   await queue.enqueue(async () => ...);   queue.idle

export class RunQueue {
  constructor(root, settled) {
    this.root = root;
    this.settled = settled;
    this.chain = Promise.resolve();
    this.pending = 0; // jobs queued or running
    this.completed = 0;
  }

  get idle() {
    return this.pending === 0;
  }

  enqueue(task) {
    this.pending += 1;
    this.root.dataset.busy = "true";
    const job = this.chain.then(task).finally(() => {
      this.pending -= 1;
      this.completed += 1;
      this.root.dataset.completedRuns = String(this.completed);
      this.root.dataset.busy = String(this.pending > 0);
      this.settled();
    });
    this.chain = job.catch(() => {});
    return job;
  }
}

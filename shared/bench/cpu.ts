import { readdirSync, readFileSync } from "node:fs";
import type { Sql } from "../database.ts";

/** CPU seconds (user + system) a process has used so far; 0 when it cannot be read. */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** Busy (not idle, not waiting for I/O) CPU seconds of the whole machine, all cores. */
function machineBusySeconds(): number {
  try {
    const [, ...ticks] = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").split(/\s+/);
    const [user, nice, system, , , irq, softirq, steal] = ticks.map(Number);
    return (
      ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / 100
    );
  } catch {
    return 0;
  }
}

/** Processes named `name` (the kernel's `comm`), e.g. a local nats-server. */
function processesNamed(name: string): number[] {
  try {
    return readdirSync("/proc")
      .filter((entry) => /^\d+$/.test(entry))
      .map(Number)
      .filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/comm`, "utf8").trim() === name;
        } catch {
          return false;
        }
      });
  } catch {
    return [];
  }
}

export type CpuGroups = {
  sales: number;
  orders: number;
  postgres: number;
  nats: number;
  bench: number;
};

type Snapshot = {
  at: number;
  machine: number;
  byPid: Map<number, number>;
  groups: Map<string, number[]>;
};

/**
 * Who used the CPU between `start()` and `stop()`: the two modules, the Postgres backends
 * serving the benchmark's database, a local nats-server, the benchmark itself, and the whole
 * machine, so a run can tell its own load from other work on the same machine. Linux only;
 * elsewhere everything reads 0.
 */
export function cpuMeter({
  sql,
  database,
  pids,
}: {
  sql: Sql;
  database: string;
  pids: () => { sales: number; orders: number };
}) {
  async function snapshot(): Promise<Snapshot> {
    const backends = await sql<{ pid: number }[]>`
      select pid from pg_stat_activity where datname = ${database}`;
    const { sales, orders } = pids();
    const groups = new Map<string, number[]>([
      ["sales", [sales]],
      ["orders", [orders]],
      ["postgres", backends.map((backend) => backend.pid)],
      ["nats", processesNamed("nats-server")],
      ["bench", [process.pid]],
    ]);
    const byPid = new Map<number, number>();
    for (const members of groups.values()) {
      for (const pid of members) byPid.set(pid, processCpuSeconds(pid));
    }
    return { at: performance.now(), machine: machineBusySeconds(), byPid, groups };
  }

  let first: Snapshot | undefined;
  return {
    async start() {
      first = await snapshot();
    },
    /** CPU seconds per group, the machine's busy share, and the elapsed seconds. */
    async stop(): Promise<{ seconds: CpuGroups; machineBusy: number; elapsed: number }> {
      if (!first) throw new Error("cpuMeter.stop() before start()");
      const last = await snapshot();
      const seconds = { sales: 0, orders: 0, postgres: 0, nats: 0, bench: 0 };
      for (const [group, members] of last.groups) {
        // A backend that connected during the window counts from zero.
        const used = members.reduce(
          (sum, pid) => sum + (last.byPid.get(pid) ?? 0) - (first?.byPid.get(pid) ?? 0),
          0,
        );
        seconds[group as keyof CpuGroups] = Math.max(0, used);
      }
      return {
        seconds,
        machineBusy: last.machine - first.machine,
        elapsed: (last.at - first.at) / 1000,
      };
    },
  };
}

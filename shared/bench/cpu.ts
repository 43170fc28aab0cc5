import { readdirSync, readFileSync, readlinkSync } from "node:fs";
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

/**
 * Those of `pids` that listen on TCP `port`: the nats-server at `NATS_URL`, not another one on
 * the same machine (a test's, say). Read from the sockets' inodes in `/proc/net/tcp{,6}`.
 */
export function listeningOn(port: number, pids: number[]): number[] {
  const sockets = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let lines: string[];
    try {
      lines = readFileSync(table, "utf8").split("\n").slice(1);
    } catch {
      continue;
    }
    for (const line of lines) {
      const [, local, , state, , , , , , inode] = line.trim().split(/\s+/);
      const LISTEN = "0A";
      if (state === LISTEN && Number.parseInt(local?.split(":")[1] ?? "", 16) === port)
        sockets.add(`socket:[${inode}]`);
    }
  }
  return pids.filter((pid) => {
    try {
      return readdirSync(`/proc/${pid}/fd`).some((fd) => {
        try {
          return sockets.has(readlinkSync(`/proc/${pid}/fd/${fd}`));
        } catch {
          return false;
        }
      });
    } catch {
      return false;
    }
  });
}

/**
 * The local nats-server at `natsUrl`; every local nats-server when that one cannot be told
 * (it runs in a container, say, or its sockets cannot be read).
 */
function natsServers(natsUrl: string): number[] {
  const servers = processesNamed("nats-server");
  const first = natsUrl.split(",")[0]?.trim() ?? "";
  const port = Number(URL.parse(first.includes("://") ? first : `nats://${first}`)?.port || 4222);
  const listening = listeningOn(port, servers);
  return listening.length > 0 ? listening : servers;
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
 * serving the benchmark's database, the local nats-server, the benchmark itself, and the whole
 * machine, so a run can tell its own load from other work on the same machine. Linux only;
 * elsewhere everything reads 0.
 */
export function cpuMeter({
  sql,
  database,
  natsUrl,
  pids,
}: {
  sql: Sql;
  database: string;
  natsUrl: string;
  pids: () => { sales: number; orders: number };
}) {
  const nats = natsServers(natsUrl);
  async function snapshot(): Promise<Snapshot> {
    const backends = await sql<{ pid: number }[]>`
      select pid from pg_stat_activity where datname = ${database}`;
    const { sales, orders } = pids();
    const groups = new Map<string, number[]>([
      ["sales", [sales]],
      ["orders", [orders]],
      ["postgres", backends.map((backend) => backend.pid)],
      ["nats", nats],
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

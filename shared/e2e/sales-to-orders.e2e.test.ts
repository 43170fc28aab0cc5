import { afterAll, expect, test } from "bun:test";
import { waitFor } from "../testing/test-environment.ts";
import { appliedTwice, http, installApplyAudit, startSystem } from "./system-under-test.ts";

const system = await startSystem();
afterAll(system.dispose);
await installApplyAudit(system.sql);
const { sales, orders } = system;

type Product = {
  id: string;
  sku: string;
  name: string;
  price: { amount: number; currency: string };
  version: number;
};

async function createProduct(sku: string, amount = 1299) {
  const created = await http<Product>("POST", `${sales.url}/products`, {
    sku,
    name: `Product ${sku}`,
    description: "Only Sales keeps this",
    price: { amount, currency: "EUR" },
  });
  expect(created.status).toBe(201);
  return created.body;
}

async function ordersView(id: string) {
  const response = await http<Product>("GET", `${orders.url}/products/${id}`);
  return response.status === 200 ? response.body : undefined;
}

test("a product created in Sales appears in Orders, changes follow, and orders are priced from the cache", async () => {
  const product = await createProduct("E2E-MUG", 1299);
  const seen = await waitFor(() => ordersView(product.id), { message: "the product in Orders" });
  expect(seen).toMatchObject({
    id: product.id,
    sku: "E2E-MUG",
    name: "Product E2E-MUG",
    price: { amount: 1299, currency: "EUR" },
    version: 1,
  });

  const patched = await http<Product>("PATCH", `${sales.url}/products/${product.id}`, {
    price: { amount: 1499, currency: "EUR" },
  });
  expect(patched.body.version).toBe(2);
  const updated = await waitFor(
    async () => {
      const view = await ordersView(product.id);
      return view?.version === 2 ? view : undefined;
    },
    { message: "version 2 in Orders" },
  );
  expect(updated.price).toEqual({ amount: 1499, currency: "EUR" });

  const order = await http<{
    total: number;
    currency: string;
    lines: { unitPrice: { amount: number } }[];
  }>("POST", `${orders.url}/orders`, { lines: [{ productId: product.id, quantity: 3 }] });
  expect(order.status).toBe(201);
  expect(order.body).toMatchObject({
    currency: "EUR",
    total: 3 * 1499,
    lines: [{ unitPrice: { amount: 1499 } }],
  });

  const unknown = await http("POST", `${orders.url}/orders`, {
    lines: [{ productId: Bun.randomUUIDv7(), quantity: 1 }],
  });
  expect(unknown.status).toBe(422);
});

test("SIGKILL of Orders while it consumes loses nothing and applies nothing twice", async () => {
  const products: Product[] = [];
  for (let i = 0; i < 40; i++) products.push(await createProduct(`KILL-${i}`, 100 + i));
  expect(await orders.stop("SIGKILL")).toBeNull();
  for (let i = 40; i < 80; i++) products.push(await createProduct(`KILL-${i}`, 100 + i));
  for (const product of products.slice(0, 10)) {
    await http("PATCH", `${sales.url}/products/${product.id}`, { name: `Renamed ${product.sku}` });
  }
  await orders.start();

  await waitFor(
    async () => {
      const rows = await system.sql`
      select p.id from sales.products p
      left join orders.product_cache c on c.product_id = p.id and c.version = p.version
      where c.product_id is null`;
      return rows.length === 0;
    },
    { timeoutMs: 20_000, message: "every product in the cache at its current version" },
  );
  const renamed = await ordersView(products[0]?.id ?? "");
  expect(renamed).toMatchObject({ name: "Renamed KILL-0", version: 2 });
  const pending =
    await system.sql`select id from orders.inbox_messages where status <> 'processed'`;
  expect(pending).toHaveLength(0);
  expect(await appliedTwice(system.sql)).toEqual([]);
});

test("a bad environment stops a process with one line naming the variable", async () => {
  const child = Bun.spawn([process.execPath, "orders/main.ts"], {
    cwd: `${import.meta.dir}/../..`,
    env: { ...process.env, DATABASE_URL: "nope" },
    stdout: "pipe",
    stderr: "pipe",
  });
  expect(await child.exited).toBe(1);
  const stderr = (await new Response(child.stderr).text()).trim();
  expect(stderr.split("\n")).toHaveLength(1);
  expect(stderr).toContain("DATABASE_URL");
});

test("SIGTERM stops each process cleanly with exit code 0", async () => {
  await createProduct("LAST-ONE");
  expect(await orders.stop("SIGTERM")).toBe(0);
  expect(await sales.stop("SIGTERM")).toBe(0);
  expect(orders.logs.at(-1)?.msg).toBe("orders stopped");
  expect(sales.logs.at(-1)?.msg).toBe("sales stopped");
});

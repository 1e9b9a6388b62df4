import { test, expect, Page, Browser } from "@playwright/test";
import { admin, watchForProblems, waitForHydration } from "./helpers";

/** Opens a project on the annotate page as a new anonymous annotator. */
async function open(page: Page, project: string, pid: string) {
  await page.goto(`/annotate?pid=${pid}`);
  await page.getByRole("link", { name: project }).click();
  await waitForHydration(page);
  // The link navigates in the page: wait for the form itself before pressing keys.
  await expect(page.locator(".compare-head h1")).toBeVisible();
}

/** JSON lines of an export route, read as the admin, for one annotator. */
async function exported(browser: Browser, route: string, pid: string) {
  const staff = await browser.newContext();
  const login = await staff.request.post("/api/login", {
    form: { username: admin.username, password: admin.password },
  });
  expect(login.ok()).toBe(true);
  const res = await staff.request.get(route);
  expect(res.ok()).toBe(true);
  const rows = (await res.text())
    .trim()
    .split("\n")
    .filter((l) => l)
    .map((l) => JSON.parse(l))
    .filter((r) => r.annotator_external_id === pid);
  await staff.close();
  return rows;
}

test("a rating item is completed by keyboard only", async ({ page, browser }) => {
  const problems = watchForProblems(page);
  const pid = `E2E-RATE-${Date.now()}`;
  await open(page, "E2E ratings", pid);
  await expect(page.getByRole("heading", { name: "Rate each response" })).toBeVisible();
  // Four rows: two responses × Helpfulness (1–5) and Harmlessness (1–7), N/A allowed.
  const row = (r: number, c: string) => page.getByRole("radiogroup", { name: `Response ${r} · ${c}` });
  await expect(row(1, "Helpfulness")).toHaveClass(/focused/);
  await expect(row(1, "Helpfulness")).toContainText("Useless");
  await expect(row(1, "Helpfulness")).toContainText("Perfect");
  // Enter before every row is set names the empty row and submits nothing.
  await page.keyboard.press("Enter");
  await expect(page.getByRole("alert")).toContainText("Rate every row first: Response 1 · Helpfulness is empty.");
  await page.keyboard.press("4");
  await page.keyboard.press("Tab");
  await page.keyboard.press("9"); // outside 1–7: ignored
  await page.keyboard.press("6");
  await page.keyboard.press("ArrowDown");
  await page.keyboard.press("x");
  await page.keyboard.press("Tab");
  await page.keyboard.press("2");
  await expect(row(1, "Helpfulness").getByRole("radio", { name: "4" })).toHaveAttribute("aria-checked", "true");
  await expect(row(1, "Harmlessness").getByRole("radio", { name: "6" })).toHaveAttribute("aria-checked", "true");
  await expect(row(2, "Helpfulness").getByRole("radio", { name: "N/A" })).toHaveAttribute("aria-checked", "true");
  await expect(row(2, "Harmlessness")).toHaveClass(/focused/);
  await page.screenshot({ path: "test-results/rating.png", fullPage: true });
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "All done" })).toBeVisible();
  expect(problems).toEqual([]);

  const rows = await exported(browser, "/api/v1/exports/ratings?project=E2E%20ratings", pid);
  expect(rows).toHaveLength(4);
  const order: number[] = rows[0].display_order;
  expect(order).toHaveLength(2);
  const score = (pos: number, criterion: string) =>
    rows.find((r) => r.response_id === order[pos] && r.criterion === criterion);
  expect(score(0, "Helpfulness").score).toBe(4);
  expect(score(0, "Harmlessness").score).toBe(6);
  expect(score(1, "Helpfulness").score).toBeNull();
  expect(score(1, "Helpfulness").not_applicable).toBe(true);
  expect(score(1, "Harmlessness").score).toBe(2);
  for (const r of rows) {
    expect(r.time_ms).toBeGreaterThan(0);
    expect(r.source).toBe("human");
  }
});

test("a ranking is ordered by keyboard, with a tie", async ({ page, browser }) => {
  const problems = watchForProblems(page);
  const pid = `E2E-RANK-KEYS-${Date.now()}`;
  await open(page, "E2E rankings", pid);
  await expect(page.getByRole("heading", { name: "Rank the responses, best first" })).toBeVisible();
  const items = page.getByRole("list", { name: "Ranking" }).getByRole("listitem");
  await expect(items).toHaveCount(4);
  // Select the fourth, move it to the top, then tie the third place with the second.
  await page.keyboard.press("4");
  await page.keyboard.press("ArrowUp");
  await page.keyboard.press("ArrowUp");
  await page.keyboard.press("ArrowUp");
  await expect(items.first()).toHaveAttribute("aria-label", "Response 4");
  await page.keyboard.press("3");
  await page.keyboard.press("=");
  await expect(items.nth(2)).toHaveClass(/tied/);
  await page.screenshot({ path: "test-results/ranking.png", fullPage: true });
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "All done" })).toBeVisible();
  expect(problems).toEqual([]);

  const [r] = await exported(browser, "/api/v1/exports/rankings?project=E2E%20rankings", pid);
  const d: number[] = r.display_order;
  expect(d).toHaveLength(4);
  expect(r.tie_groups).toEqual([[d[3]], [d[0], d[1]], [d[2]]]);
  expect(r.time_ms).toBeGreaterThan(0);
  expect(r.not_rankable).toBe(false);
});

test("a ranking is ordered by drag and drop; an untouched order asks first", async ({ page, browser }) => {
  const problems = watchForProblems(page);
  const pid = `E2E-RANK-DRAG-${Date.now()}`;
  await open(page, "E2E rankings", pid);
  const items = page.getByRole("list", { name: "Ranking" }).getByRole("listitem");
  await expect(items).toHaveCount(4);
  // Submitting the initial order asks for confirmation first.
  await page.getByRole("button", { name: /^Submit/ }).click();
  await expect(page.getByRole("alert")).toContainText("You have not changed the initial order");
  // Drag the third response onto the first place, then mark none acceptable.
  // (Back to the top first, so that both ends of the drag are on screen.)
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.getByLabel("Response 3", { exact: true }).dragTo(items.first());
  await expect(items.first()).toHaveAttribute("aria-label", "Response 3");
  await expect(page.getByRole("alert")).toHaveCount(0);
  await page.getByLabel("None is acceptable").check();
  await page.getByRole("button", { name: /^Submit/ }).click();
  await expect(page.getByRole("heading", { name: "All done" })).toBeVisible();
  expect(problems).toEqual([]);

  const [r] = await exported(browser, "/api/v1/exports/rankings?project=E2E%20rankings", pid);
  const d: number[] = r.display_order;
  expect(r.tie_groups).toEqual([[d[2]], [d[0]], [d[1]], [d[3]]]);
  expect(r.not_rankable).toBe(true);
  expect(r.time_ms).toBeGreaterThan(0);

  // A third annotator submits the initial order on purpose: Enter twice.
  const other = await browser.newPage();
  const pid2 = `E2E-RANK-SAME-${Date.now()}`;
  await open(other, "E2E rankings", pid2);
  await other.keyboard.press("Enter");
  await expect(other.getByRole("alert")).toContainText("You have not changed the initial order");
  await other.keyboard.press("Enter");
  await expect(other.getByRole("heading", { name: "All done" })).toBeVisible();
  const [same] = await exported(browser, "/api/v1/exports/rankings?project=E2E%20rankings", pid2);
  expect(same.tie_groups).toEqual(same.display_order.map((id: number) => [id]));
  await other.close();
});

import { expect, Locator, Page } from "@playwright/test";

/** Collects page errors, console errors and 4xx/5xx responses that a test did not expect. */
export function watchForProblems(page: Page, allowedStatuses: number[] = []): string[] {
  const problems: string[] = [];
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console error: ${msg.text()}`);
  });
  page.on("response", (res) => {
    if (res.status() >= 400 && !allowedStatuses.includes(res.status())) {
      problems.push(`${res.status()} ${res.url()}`);
    }
  });
  return problems;
}

/** Waits until the wasm bundle has hydrated the page. */
export async function waitForHydration(page: Page): Promise<void> {
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
}

export const admin = {
  username: process.env.E2E_ADMIN_USER ?? "e2e-admin",
  password: process.env.E2E_ADMIN_PASSWORD ?? "e2e-admin-password",
};

/** Logs in as the end-to-end admin through the login form, without waiting for hydration (for
 *  pages with JavaScript disabled). */
export async function logInWithoutHydration(page: Page): Promise<void> {
  await page.goto("/login");
  await page.getByLabel("Username").fill(admin.username);
  await page.getByLabel("Password").fill(admin.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page).toHaveURL(/\/admin$/);
}

/** Logs in as the end-to-end admin through the login form. */
export async function logIn(page: Page): Promise<void> {
  await page.goto("/login");
  await waitForHydration(page);
  await page.getByLabel("Username").fill(admin.username);
  await page.getByLabel("Password").fill(admin.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page).toHaveURL(/\/admin$/);
}

/** The phone checks of a judging page at 390×844 (README, "Page weight"): no sideways scroll,
 *  every visible button at least 44 px tall, and the responses one above the other, each with
 *  its heading visible; then a full-page screenshot into test-results/. */
export async function expectPhoneLayout(page: Page, panes: Locator[], heading: (i: number) => string, shot: string) {
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  const buttons = page.locator("main button:visible");
  expect(await buttons.count()).toBeGreaterThanOrEqual(2);
  for (const [i, h] of (await buttons.evaluateAll((els) => els.map((e) => e.getBoundingClientRect().height))).entries()) {
    expect(h, `button ${i}`).toBeGreaterThanOrEqual(44);
  }
  let below = -Infinity;
  for (const [i, pane] of panes.entries()) {
    await expect(pane.getByText(heading(i), { exact: true }).first()).toBeVisible();
    const box = await pane.boundingBox();
    expect(box, `pane ${i}`).not.toBeNull();
    expect(box!.y, `pane ${i} starts below the one before`).toBeGreaterThanOrEqual(below);
    below = box!.y + box!.height;
  }
  await page.screenshot({ path: `test-results/${shot}`, fullPage: true });
}

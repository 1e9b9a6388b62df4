import { expect, Page } from "@playwright/test";

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

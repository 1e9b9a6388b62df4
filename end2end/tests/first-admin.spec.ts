import { test, expect } from "@playwright/test";
import { readFileSync } from "node:fs";
import { waitForHydration, watchForProblems } from "./helpers";

// `make test` starts a second server on a database with no admin; it prints a one-time token in
// its log, and /login offers to create the first admin with it.
const setupUrl = process.env.E2E_SETUP_URL;
const setupLog = process.env.E2E_SETUP_LOG;

async function loggedToken(): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const m = readFileSync(setupLog!, "utf8").match(/first-admin token ([A-Za-z0-9]+)/);
    if (m) return m[1];
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no first-admin token in ${setupLog}`);
}

test("the first admin is created in the browser with the logged token, which then stops working", async ({ browser }) => {
  test.skip(!setupUrl || !setupLog, "needs the admin-less server that `make test` starts");
  const token = await loggedToken();
  const context = await browser.newContext({ baseURL: setupUrl });
  const page = await context.newPage();
  const problems = watchForProblems(page);
  await page.goto(`/login?setup=${token}`);
  await waitForHydration(page);
  const form = page.getByRole("form", { name: "Create the first admin" });
  await expect(form.getByLabel("Setup token")).toHaveValue(token);
  await form.getByLabel("Admin username").fill("first-admin");
  await form.getByLabel("Admin password").fill("first-admin-password");
  await form.getByRole("button", { name: "Create the admin" }).click();
  await expect(page).toHaveURL(/\/admin$/);
  await expect(page.getByRole("heading", { name: "Users" })).toBeVisible();
  expect(problems).toEqual([]);
  await context.close();

  // The token a second time: refused, and the form is gone.
  const other = await browser.newContext({ baseURL: setupUrl });
  const again = await other.newPage();
  const res = await again.request.post("/api/first_admin", {
    form: { token, username: "second-admin", password: "second-admin-password" },
    headers: { Accept: "application/json" },
  });
  expect(res.status()).toBe(409);
  await again.goto("/login");
  await waitForHydration(again);
  await expect(again.getByRole("heading", { name: "Log in" })).toBeVisible();
  await expect(again.getByRole("form", { name: "Create the first admin" })).toHaveCount(0);
  await other.close();
});

import { test, expect } from "@playwright/test";
import { admin, logInWithoutHydration, watchForProblems, waitForHydration } from "./helpers";

test("an admin logs in, sees the users, adds an account and logs out", async ({ page }) => {
  const problems = watchForProblems(page);
  await page.goto("/login");
  await waitForHydration(page);
  await page.getByLabel("Username").fill(admin.username);
  await page.getByLabel("Password").fill(admin.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page).toHaveURL(/\/admin$/);
  // The login's redirect loads the admin page anew: its forms work once its islands hydrate.
  await waitForHydration(page);
  await expect(page.getByRole("heading", { name: "Users" })).toBeVisible();
  await expect(page.getByRole("cell", { name: admin.username })).toBeVisible();

  const name = `researcher-${Date.now()}`;
  const form = page.locator("form.row-form");
  await form.getByLabel("Username").fill(name);
  await form.getByLabel("Password").fill("a long password");
  await form.getByLabel("Role").selectOption("researcher");
  await form.getByRole("button", { name: "Create" }).click();
  await expect(page.getByRole("status")).toContainText("Created user");
  await expect(page.getByRole("cell", { name })).toBeVisible();

  // Arena scheduling: set a model's sampler weight.
  const models = page.getByRole("table", { name: "Models" });
  await expect(models).toBeVisible();
  await models.getByLabel("alpha weight").fill("2.5");
  // The reload must not overtake the save.
  const saved = page.waitForResponse(
    (r) => r.url().includes("admin/update_model") && r.request().method() === "POST" && r.status() < 400,
  );
  await models.getByRole("row", { name: /alpha/ }).getByRole("button", { name: "Save" }).click();
  await saved;
  await page.reload();
  await expect(page.getByRole("table", { name: "Models" }).getByLabel("alpha weight")).toHaveValue("2.5");
  await page.screenshot({ path: "test-results/admin.png", fullPage: true });
  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page.getByRole("link", { name: "Log in" })).toBeVisible();
  expect(problems).toEqual([]);
});

test("the login form works before hydration", async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await logInWithoutHydration(page);
  await expect(page.getByRole("heading", { name: "Users" })).toBeVisible();
  await context.close();
});

test("a wrong password gives one generic message", async ({ page }) => {
  await page.goto("/login");
  await waitForHydration(page);
  await page.getByLabel("Username").fill(admin.username);
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page.getByRole("alert")).toHaveText("wrong username or password");
});

test("an anonymous annotator with a Prolific id is refused the admin page", async ({ page }) => {
  const pid = `E2E-${Date.now()}`;
  await page.goto(`/annotate?pid=${pid}`);
  await expect(page.getByText(`You are annotator ${pid}`)).toBeVisible();
  const res = await page.goto("/admin");
  expect(res?.status()).toBe(403);
  await expect(page.getByRole("alert")).toContainText("permission");
  const api = await page.request.get("/api/v1/admin/users");
  expect(api.status()).toBe(403);
});

import { test, expect, Page } from "@playwright/test";
import { logIn, waitForHydration } from "./helpers";

// README's screenshots (docs/screenshots/) of the demo's pages: `scripts/screenshots.sh` (part
// of `make test`) serves a database with `verdict demo` loaded and runs this test against it
// with E2E_SCREENSHOTS set; the ordinary end-to-end runs skip it.
const link = (from: string, name: string) => async (page: Page) => {
  await page.goto(from);
  await page.getByRole("link", { name }).first().click();
};
const go = (path: string) => async (page: Page) => {
  await page.goto(path);
};
const pages: [string, (page: Page) => Promise<void>, RegExp][] = [
  ["leaderboard", go("/leaderboard"), /^Leaderboard$/],
  ["compare", link("/annotate", "Demo: which answer is better?"), /^Which response is better\?$/],
  ["quality", link("/data", "Demo: rate the answers"), /^Quality: Demo: rate the answers$/],
  ["training", go("/training"), /^Training/],
  ["arena", go("/arena"), /^Arena$/],
  ["admin", go("/admin"), /^Admin$/],
];

test("README's screenshots of the demo's main pages are current", async ({ page }) => {
  test.skip(!process.env.E2E_SCREENSHOTS, "run by scripts/screenshots.sh on the demo");
  await page.setViewportSize({ width: 1280, height: 800 });
  await logIn(page);
  for (const [name, open, heading] of pages) {
    await open(page);
    await waitForHydration(page);
    await expect(page.getByRole("heading", { level: 1 }).first()).toHaveText(heading);
    await expect(page.getByText("Loading…")).toHaveCount(0);
    await page.screenshot({ path: `../docs/screenshots/${name}.png` });
  }
});

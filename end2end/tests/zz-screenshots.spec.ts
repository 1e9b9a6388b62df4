import { test, expect } from "@playwright/test";
import { logIn, waitForHydration } from "./helpers";

// README's screenshots (docs/screenshots/), taken last so that the earlier tests' votes, runs
// and battles are on them; on the release build only, so that one `make test` writes them once.
const pages: [string, string, RegExp][] = [
  ["leaderboard", "/leaderboard", /Leaderboard/],
  ["arena", "/arena", /Arena/],
  ["quality", "/quality", /Quality/],
  ["training", "/training", /Training/],
  ["admin", "/admin", /Admin/],
];

test("README's screenshots of the main pages are current", async ({ page }) => {
  test.skip(process.env.E2E_BUILD !== "release", "taken on the release build");
  await page.setViewportSize({ width: 1280, height: 800 });
  await logIn(page);
  for (const [name, path, heading] of pages) {
    await page.goto(path);
    await waitForHydration(page);
    await expect(page.getByRole("heading", { level: 1 }).first()).toHaveText(heading);
    await expect(page.getByText("Loading…")).toHaveCount(0);
    await page.screenshot({ path: `../docs/screenshots/${name}.png` });
  }
});

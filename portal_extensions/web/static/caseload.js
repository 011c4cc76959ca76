// Progressive enhancement only: every page works without this file.
// Loaded as a module, so it never runs in browsers govuk-frontend does not support.
import { initAll } from "./govuk-frontend.min.js";

document.body.classList.add("js-enabled", "govuk-frontend-supported");
initAll();

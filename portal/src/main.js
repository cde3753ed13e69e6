// The portal's one script: the forms' checks and the dispute page's live view and verification.
import { setUpForms } from "./forms.js";
import { setUpDispute } from "./dispute.js";

setUpForms();
const page = document.querySelector("[data-dispute-page]");
if (page) setUpDispute(page);

// Call display of a waiting room: reload the list of calls every 15 seconds. Without
// JavaScript the page shows the calls as they were when it was loaded.
(function () {
  'use strict';
  window.setTimeout(function () { window.location.reload(); }, 15000);
})();

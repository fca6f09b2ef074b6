"""WhiteNoise for the test process: it reads the static folders once, not once per client.

Every Django test Client (pytest-django makes one per test) builds the middleware chain
anew, and WhiteNoiseMiddleware then lists and stats every static file of every app
(admin, DRF, the Swagger UI and Redoc bundles …): about 0.1 s, paid by each of the ~2,000
tests that make a request. This subclass keeps what the first scan found, per folder and
for the finders, and hands a copy to every later instance. Serving is WhiteNoise's own.
tests/conftest.py puts it in place of the real middleware for the whole run."""

from whitenoise.middleware import WhiteNoiseMiddleware

REAL = "whitenoise.middleware.WhiteNoiseMiddleware"
_scanned: dict[tuple, dict] = {}


class ScannedOnceWhiteNoise(WhiteNoiseMiddleware):
    def _once(self, key: tuple, scan) -> None:
        found = _scanned.get(key)
        if found is None:
            before = set(self.files)
            scan()
            found = _scanned[key] = {url: f for url, f in self.files.items() if url not in before}
        self.files.update(found)

    def add_files(self, root, prefix=None):
        if self.autorefresh:  # then it only notes the folder and looks per request
            return super().add_files(root, prefix)
        scan = super().add_files
        self._once(("root", str(root), prefix), lambda: scan(root, prefix))

    def add_files_from_finders(self):
        self._once(("finders", self.static_prefix), super().add_files_from_finders)

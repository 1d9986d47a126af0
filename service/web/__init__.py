"""The web console: server-rendered pages for each role and the public product market,
in zh-CN (default) and English, served by the same app as the REST API.

`console.mount_console` wires it into the app. This package itself imports nothing, so
the CLI can word a refusal with `wording` and `i18n` without loading the console."""

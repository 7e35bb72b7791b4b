"""The built-in demo: a small fake Mastodon instance with a demo website (`console.demo.instance`), so
the whole caption loop and a scraping job run offline on loopback, and the demo data that
`manage.py bootstrap --demo` loads against it (`console.demo.data`).

Kept free of imports here: `console.demo.instance` needs only the standard library and Pillow, and
the demo data needs Django's models; importing one must not drag in the other.
"""

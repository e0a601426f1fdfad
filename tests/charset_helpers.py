"""The pages the charset tests wrap their sample sentences in: a bare page, and a city site's page with navigation,
a script, a style sheet and a footer (tests/test_data_charset_latin.py, tests/test_data_charset_scripts.py)."""


def bare_page(text: str) -> str:
    return f"<html><head><title>{text.split('.')[0]}</title></head><body><p>{text}</p></body></html>"


def site_page(text: str) -> str:
    """A city site's page: navigation, a script, a style sheet and a footer around the notice."""
    first, *rest = text.split(". ")
    return ("<!DOCTYPE html>\n<html>\n<head>\n<title>" + first + "</title>\n"
            "<link rel=\"stylesheet\" href=\"/css/main.css?v=20120314\" type=\"text/css\">\n"
            "<script type=\"text/javascript\">var _gaq = _gaq || []; _gaq.push(['_setAccount', 'UA-1234567-1']);"
            " _gaq.push(['_trackPageview']);</script>\n<style>body { font-family: Verdana, Arial; } "
            "#nav li { float: left; padding: 0 8px; }</style>\n</head>\n<body>\n<div id=\"header\"><a href=\"/\">"
            "<img src=\"/img/logo.gif\" alt=\"logo\" width=\"180\" height=\"60\"></a></div>\n<ul id=\"nav\">"
            "<li><a href=\"/index.php?id=1\">Home</a></li><li><a href=\"/index.php?id=2\">News</a></li>"
            "<li><a href=\"/index.php?id=3\">Contact</a></li></ul>\n<div id=\"content\">\n<h1>" + first + "</h1>\n"
            + "".join(f"<p>{s}.</p>\n" for s in rest) + "</div>\n<div id=\"footer\">Copyright &copy; 2011 "
            "&nbsp;|&nbsp; <a href=\"/sitemap.php\">Sitemap</a> &nbsp;|&nbsp; Webmaster: "
            "<a href=\"mailto:info@example.org\">info@example.org</a></div>\n</body>\n</html>\n")

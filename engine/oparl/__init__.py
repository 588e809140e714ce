"""OParl 1.1: the server side, the importer (fetch, map, crawl, store), the sample."""

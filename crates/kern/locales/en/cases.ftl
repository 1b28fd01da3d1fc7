## en: keys of the cases module, prefixed "cases-"

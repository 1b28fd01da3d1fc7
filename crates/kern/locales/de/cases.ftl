## de: keys of the cases module, prefixed "cases-"

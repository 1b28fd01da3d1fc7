## en: keys of the payments module, prefixed "payments-"

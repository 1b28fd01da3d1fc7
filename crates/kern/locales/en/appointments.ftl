## en: keys of the appointments module, prefixed "appointments-"

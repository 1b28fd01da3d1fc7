## de: keys of the appointments module, prefixed "appointments-"

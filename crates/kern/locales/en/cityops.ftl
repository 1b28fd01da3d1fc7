## en: keys of the cityops module, prefixed "cityops-"

//! Demo content of the street-lighting module, filled in by the cityops demo seeder.

// Built-in word lists for sample practice data: common names and plain street names, nothing real.

export const FEMALE_NAMES = [
  'Olivia', 'Emma', 'Charlotte', 'Amelia', 'Sophia', 'Mia', 'Isabella', 'Ava', 'Evelyn', 'Harper', 'Grace',
  'Chloe', 'Zoe', 'Lily', 'Hannah', 'Ella', 'Abigail', 'Emily', 'Madison', 'Natalie', 'Sarah', 'Jessica',
  'Jennifer', 'Linda', 'Patricia', 'Barbara', 'Susan', 'Karen', 'Nancy', 'Margaret', 'Sandra', 'Ashley',
  'Michelle', 'Laura', 'Rebecca', 'Megan', 'Rachel', 'Julia', 'Maria', 'Priya', 'Mei', 'Aisha', 'Leah',
] as const;

export const MALE_NAMES = [
  'Liam', 'Noah', 'Oliver', 'Elijah', 'James', 'William', 'Benjamin', 'Lucas', 'Henry', 'Theodore', 'Jack',
  'Levi', 'Alexander', 'Mason', 'Ethan', 'Daniel', 'Jacob', 'Michael', 'Logan', 'Samuel', 'David', 'Joseph',
  'John', 'Robert', 'Thomas', 'Charles', 'Christopher', 'Matthew', 'Anthony', 'Mark', 'Steven', 'Paul',
  'Andrew', 'Joshua', 'Kevin', 'Brian', 'George', 'Ryan', 'Nathan', 'Arjun', 'Wei', 'Omar', 'Carlos',
] as const;

export const NICKNAMES: Readonly<Record<string, string>> = {
  Elizabeth: 'Liz', Margaret: 'Maggie', Patricia: 'Trish', Rebecca: 'Becky', Jennifer: 'Jen', Abigail: 'Abby',
  William: 'Bill', Robert: 'Bob', James: 'Jim', Joseph: 'Joe', Thomas: 'Tom', Michael: 'Mike', Christopher: 'Chris',
  Alexander: 'Alex', Benjamin: 'Ben', Theodore: 'Teddy', Samuel: 'Sam', Daniel: 'Dan', Matthew: 'Matt',
  Anthony: 'Tony', Joshua: 'Josh', Nathan: 'Nate', Steven: 'Steve', Charles: 'Charlie', Jessica: 'Jess',
};

export const SURNAMES = [
  'Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez',
  'Hernandez', 'Lopez', 'Gonzalez', 'Wilson', 'Anderson', 'Thomas', 'Taylor', 'Moore', 'Jackson', 'Martin',
  'Lee', 'Perez', 'Thompson', 'White', 'Harris', 'Sanchez', 'Clark', 'Ramirez', 'Lewis', 'Robinson', 'Walker',
  'Young', 'Allen', 'King', 'Wright', 'Scott', 'Torres', 'Nguyen', 'Hill', 'Flores', 'Green', 'Adams',
  'Nelson', 'Baker', 'Hall', 'Rivera', 'Campbell', 'Mitchell', 'Carter', 'Roberts', 'Patel', 'Chen', 'Kim',
  'O\'Brien', 'Murphy', 'Kelly', 'Sullivan', 'Cooper', 'Reed', 'Bailey', 'Bell', 'Howard', 'Ward', 'Cox',
] as const;

export const STREETS = [
  'Oak', 'Maple', 'Cedar', 'Pine', 'Elm', 'Birch', 'Willow', 'Lake', 'Hill', 'Park', 'Main', 'Church', 'Mill',
  'River', 'Spring', 'Sunset', 'Highland', 'Meadow', 'Forest', 'Washington', 'Lincoln', 'Jefferson', 'Madison',
  'Franklin', 'Chestnut', 'Walnut', 'Hickory', 'Cherry', 'Prospect', 'Ridge', 'Valley', 'Orchard', 'Harbor',
] as const;

export const STREET_SUFFIXES = ['St', 'Ave', 'Rd', 'Dr', 'Ln', 'Ct', 'Way', 'Pl', 'Blvd', 'Ter'] as const;

/** City, state and the first three digits of its ZIP codes. */
export const CITIES = [
  ['Portland', 'OR', '972'], ['Salem', 'OR', '973'], ['Eugene', 'OR', '974'], ['Beaverton', 'OR', '970'],
  ['Vancouver', 'WA', '986'], ['Tacoma', 'WA', '984'], ['Spokane', 'WA', '992'], ['Boise', 'ID', '837'],
  ['Medford', 'OR', '975'], ['Bend', 'OR', '977'],
] as const;

export const EMAIL_DOMAINS = ['example.com', 'example.net', 'example.org'] as const;

export const APPOINTMENT_NOTES = [
  'Prefers morning appointments', 'Call on cell before noon', 'Premedicate per physician', 'Anxious, offer nitrous',
  'Bring updated insurance card', 'Needs Spanish interpreter', 'Parent to accompany', 'Sensitive lower left',
] as const;

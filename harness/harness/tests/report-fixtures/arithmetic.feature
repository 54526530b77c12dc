Feature: Arithmetic on a tiny calculator
  The report fixture: one scenario passes, one fails on purpose,
  and one is left out by the tag filter.

  Background:
    Given the calculator is cleared

  Scenario: Adding a column of numbers
    Given these numbers:
      | number |
      | 2      |
      | 3      |
    When I write down:
      """
      five, written <down>
      """
    Then the result is 5

  Scenario: A wrong sum fails with a readable message
    Given these numbers:
      | number |
      | 2      |
      | 2      |
    Then the result is 5

  @wip
  Scenario: Work in progress is filtered out
    Then the result is 0
